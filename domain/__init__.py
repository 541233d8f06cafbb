"""The rules of durable executions that every part of the console shares: what a status
means, how a duration reads, what an operation is called. Pure Python: no Django, no
boto3, so the mirror (executions/), the pages (browser/, actions/) and the visualizer
(visualizer/) all use the same rules. static/console.js mirrors `durations` for the
times that tick in the browser (a browser test keeps the two in step)."""
