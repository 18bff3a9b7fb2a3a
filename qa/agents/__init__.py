"""The service for LLM agents: its tools over the Model Context Protocol (``mcp``), served
over stdio by ``qa mcp`` and over HTTP at ``/mcp`` by the API."""
