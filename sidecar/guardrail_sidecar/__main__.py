from guardrail_sidecar.main import main

main()
