"""The API's one router: the reading (api/read.py) and acting (api/act.py) endpoints share
it, since one path may take both (GET /executions lists, POST /executions starts)."""

from ninja import Router

router = Router()
READ = ["read"]
ACT = ["act"]
