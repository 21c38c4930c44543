"""The web console: server-rendered pages over the service core for the people who run the door and the library."""
