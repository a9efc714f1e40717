from services.cdr.main import main

main()
