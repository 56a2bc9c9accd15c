"""The operator's API surface: the CustomResourceDefinition rendered from the contract's Guardrail model. Pure."""
