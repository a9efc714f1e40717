from services.directory.main import main

main()
