# SPDX-License-Identifier: Apache-2.0
"""Turn prices: genai-prices lookups, model-id normalisation, overrides (needs genai-prices, so not in the oldest-dependency run)."""
