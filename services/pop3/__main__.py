from services.pop3.main import main

main()
