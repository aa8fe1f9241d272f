"""The package version, in one place."""

__version__ = "0.1.0"
USER_AGENT = f"glm-notebook/{__version__}"
