from bifrost import param, workflow


@workflow(name="order_laptops")
@param("count", "int", "How many", True, {"minimum": 1, "max": 20})
async def order_laptops(context, count: int):
    return {"ordered": count}
