"""Providers and workflows the forms tests link to (their own names: platform/ may ship others)."""

from shared import ExecutionContext, data_provider, workflow

TOWNS = {"de": ["Berlin", "Hamburg"], "nl": ["Utrecht", "Leiden"]}


@data_provider(name="form_regions", cache_ttl_seconds=0)
async def form_regions(context: ExecutionContext) -> list[dict]:
    return [{"label": "Germany", "value": "de"}, {"label": "Netherlands", "value": "nl"}]


@data_provider(name="form_towns", cache_ttl_seconds=0)
async def form_towns(context: ExecutionContext, region: str) -> list[dict]:
    """Towns of one region; the options carry the scope the provider ran in, so tests can see where it ran."""
    return [{"label": town, "value": town.lower(), "metadata": {"scope": context.scope}}
            for town in TOWNS.get(region, [])]


@data_provider(name="form_mailboxes", cache_ttl_seconds=0)
async def form_mailboxes(context: ExecutionContext, address: str) -> list[dict]:
    return [{"label": f"Mailbox {address}", "value": address}]


@workflow(name="form_book_trip", execution_mode="sync")
async def form_book_trip(context: ExecutionContext, traveller: str, region: str, town: str,
                         notes: str | None = None) -> dict:
    return {"traveller": traveller, "region": region, "town": town, "notes": notes, "scope": context.scope}


@workflow(name="form_book_trip_later", execution_mode="async")
async def form_book_trip_later(context: ExecutionContext, traveller: str, region: str, town: str,
                               notes: str | None = None) -> dict:
    return {"traveller": traveller, "town": town}


@workflow(name="form_count", execution_mode="sync")
async def form_count(context: ExecutionContext, count: int, agreed: bool = False) -> dict:
    return {"count": count, "agreed": agreed}


@workflow(name="form_mail", execution_mode="sync")
async def form_mail(context: ExecutionContext, first: str, last: str, mailbox: str) -> str:
    return mailbox


@workflow(name="form_prefill", execution_mode="sync")
async def form_prefill(context: ExecutionContext, traveller: str = "", region: str = "", source: str = "") -> dict:
    return {"traveller": traveller, "region": region, "source": source}


@workflow(name="form_launch_fails", execution_mode="sync")
async def form_launch_fails(context: ExecutionContext, traveller: str = "") -> dict:
    raise RuntimeError(f"no profile for '{traveller}'")
