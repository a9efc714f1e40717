from services.imap.main import main

main()
