"""The dev-only tools: the whole stack on 127.0.0.1 and its local parts, the demo, the ComfyUI simulator with its
recorded node catalogue, and the generators of docs and the OpenAPI file. Run from a checkout (`scripts/dev`,
`python -m devstack`); no wheel or image contains it, so none of it reaches production or the home GPU."""
