from stockroom.cli.main import main

main()
