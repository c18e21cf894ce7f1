"""Conversation Coach core: platform-free flows, sessions and replies.

Nothing in this package knows about Telegram, Discord or the console; adapters translate.
"""

import os

# One BLAS thread before numpy is first imported (the learned stage, bot/understanding/): its
# products are a few hundred thousand multiply-adds, which a pool of BLAS threads makes
# 30 to 150 times slower on a busy 2-core machine (0.05 ms against 8 ms a message, measured),
# and a coach serves everyone from one event loop anyway. An operator's own setting stands.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
