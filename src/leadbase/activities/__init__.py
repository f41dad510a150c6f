"""Activities on a lead's timeline: calls, emails, meetings, web visits..."""
