"""Self-checks of the students' answers, one function per coding exercise (chapters 2-7).

``check.normalize_tensor(normalize_tensor)`` runs small cases on the student's own
function and prints one line, or raises :class:`CheckFailed` saying what is wrong.
The checks hold no worked solution: they compare against properties, hand-computed
values and PyTorch's own operations.
"""

from resnetbook.check._base import CheckFailed

__all__ = ["CheckFailed"]
# One line per chapter module, added by the chapter that defines checks:
from resnetbook.check.ch4 import ablate_units, class_scores_per_location, features_to_hw_by_c, normalize_filters, normalize_tensor, remove_last_layers  # noqa: F401
from resnetbook.check.ch2 import seventh_conv_kernels, uncounted_convs  # noqa: F401
from resnetbook.check.ch3 import bn_equation, bn_slope_intercept, bn_statistics  # noqa: F401
from resnetbook.check.ch5 import evaluate, get_prediction, train_epoch  # noqa: F401
from resnetbook.check.ch6 import block_input_grad_norms, freeze_backbone, train_mode  # noqa: F401
from resnetbook.check.ch7_browser import top_k  # noqa: F401
from resnetbook.check.ch7_detection import box_captions, draw_detections  # noqa: F401
