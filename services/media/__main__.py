from services.media.main import main

main()
