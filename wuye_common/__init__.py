"""What both packages share: the error type, atomic file writes and the domain vocabulary.

Neither ``sampling`` nor ``evaluation`` owns these; both import them from here.
"""

from wuye_common.errors import Problem, WuyeError

__all__ = ["Problem", "WuyeError"]
