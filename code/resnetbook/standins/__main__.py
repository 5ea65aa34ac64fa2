"""``python -m resnetbook.standins [classifier|detector|all]``: retrain stand-in weights (``make standins``).

``classifier`` is ``fashion_resnet`` (chapters 2-6, :mod:`resnetbook.standins.train`), ``detector``
is ``fashion_detector`` (chapter 7, :mod:`resnetbook.standins.detector`); ``all`` (the default) both.
"""

import argparse

from resnetbook.standins import detector, train

TRAINERS = {"classifier": train.main, "detector": detector.main}

parser = argparse.ArgumentParser(prog="python -m resnetbook.standins", description=__doc__.splitlines()[0])
parser.add_argument("which", nargs="?", choices=[*TRAINERS, "all"], default="all",
                    help="which stand-in to retrain (default: all)")
which = parser.parse_args().which
for name, main in TRAINERS.items():
    if which in (name, "all"):
        main()
