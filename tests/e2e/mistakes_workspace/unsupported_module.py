from bifrost import files, workflow


@workflow
async def export_report(context):
    await files.write("report.csv", "a,b\n")
