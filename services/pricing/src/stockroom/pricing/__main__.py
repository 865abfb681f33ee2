from stockroom.common.server import run_main
from stockroom.pricing.app import main

run_main(main)
