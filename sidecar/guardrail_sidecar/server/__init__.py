"""The HTTP side: the aiohttp apps, the reverse proxy, connection limits, rate limits and HTTP helpers."""
