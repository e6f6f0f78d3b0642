"""Voice A2A library: everything the functions call; it never imports azure.functions."""
