"""The whole numbers records carry, bounded so that every reader downstream can hold them.

JSON has no limit on integers and the decoder takes any, but the enrich stage's facts are
msgpack (64 bits), the store's columns are 64-bit, the dashboard's JSON encoder stops at 64
bits and a browser reads numbers exactly only up to 2^53. A record with a larger or a
negative count is therefore invalid, and is dead-lettered where it is decoded.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

LARGEST_MEASURE = 2**53 - 1
LARGEST_COUNT = 2**63 - 1

# One media's size, duration or bit rate: exact in every JSON reader, and any number of them
# summed still far from 64 bits.
Measure = Annotated[int, msgspec.Meta(ge=0, le=LARGEST_MEASURE)]
# A count of posts, media, reposts: what a 64-bit column holds.
Count = Annotated[int, msgspec.Meta(ge=0, le=LARGEST_COUNT)]
