"""Icons and the dark theme; a package only so that wheels carry them beside `app`."""
