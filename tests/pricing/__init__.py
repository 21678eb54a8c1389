# SPDX-License-Identifier: Apache-2.0
"""Turn prices: genai-prices lookups, model-id normalisation, overrides.

They need genai-prices, which the oldest-dependency run (`make test-oldest`, tests/filter) cannot install."""
