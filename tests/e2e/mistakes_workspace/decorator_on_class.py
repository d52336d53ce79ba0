from bifrost import workflow


@workflow(name="onboarding_flow")
class OnboardingFlow:
    async def run(self, context):
        return "done"
