"""Knowledge bases of a workspace: documents uploaded, ingested on the Celery workers into the
knowledge store (runtime.knowledge), searched by people on /knowledge and by flows' retrieve
nodes and knowledge_search tools."""
