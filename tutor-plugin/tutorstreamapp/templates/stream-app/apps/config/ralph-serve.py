"""Serve the bundled Ralph LRS (rendered by tutor-contrib-stream-app).

Ralph 5's filesystem backend writes with "create", so every write after the first fails with a 500;
switching it to "append" before ralph.api is imported fixes that. Then uvicorn serves the API as
`ralph runserver` would, in this same process so the change applies.
"""

from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

import uvicorn  # noqa: E402

uvicorn.run("ralph.api:app", host="0.0.0.0", port=8100, proxy_headers=True)
