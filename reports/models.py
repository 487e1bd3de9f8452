# Models arrive with their issue (knowledge base: issue 5, reports: issue 8).
