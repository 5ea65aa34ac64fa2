"""``python -m resnetbook.standins``: retrain the stand-in weights (``make standins``)."""

from resnetbook.standins.train import main

main()
