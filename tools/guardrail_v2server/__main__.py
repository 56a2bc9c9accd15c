from guardrail_v2server.main import main

main()
