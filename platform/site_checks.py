"""Check that web sites answer: an async (queued) workflow with one step per site and recorded HTTP calls."""

from shared import ExecutionContext, param, workflow


@workflow(
    name="check_sites",
    description="Request each URL and report its HTTP status; CompletedWithErrors when any site is down.",
    category="Examples",
    execution_mode="async",
    timeout_seconds=120,
)
@param("urls", type="list", required=True, help_text="Comma-separated or a JSON list of http(s) URLs")
@param("expect_status", type="int", default_value=200)
async def check_sites(context: ExecutionContext, urls: list[str], expect_status: int = 200) -> dict:
    results = []
    for url in urls:
        async with context.step(f"check {url}", step_type="check", input_data={"url": url}) as step:
            try:
                response = await context.http.get(url, follow_redirects=True, timeout=10)
                status, ok = response.status_code, response.status_code == expect_status
            except Exception as error:  # a site that cannot be reached is a result, not a crash
                status, ok = None, False
                context.logger.warning("%s: %s", url, error)
            step.output_data = {"status": status, "ok": ok}
        context.logger.info("%s -> %s", url, status)
        results.append({"url": url, "status": status, "ok": ok})
    down = [r["url"] for r in results if not r["ok"]]
    summary = {"checked": len(results), "down": down, "results": results}
    if down:
        return {"success": False, "error": f"{len(down)} of {len(results)} site(s) did not answer {expect_status}",
                **summary}
    return summary
