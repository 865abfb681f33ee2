from stockroom.common.server import run_main
from stockroom.inventory.app import main

run_main(main)
