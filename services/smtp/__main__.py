from services.smtp.main import main

main()
