from stockroom.inventory.app import main

main()
