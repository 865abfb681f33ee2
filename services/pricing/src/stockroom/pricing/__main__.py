from stockroom.pricing.app import main

main()
