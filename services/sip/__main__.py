from services.sip.main import main

main()
