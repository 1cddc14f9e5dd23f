"""The PySide6 desktop app: `main.run_gui`, a `MainController` holding interaction state, passive views."""
