"""``python -m resnetbook.standins``: retrain the stand-in weights (``make standins``)."""

from resnetbook.standins import main

main()
