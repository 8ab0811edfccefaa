from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mynetspace.core"
    label = "core"
    verbose_name = "MyNetSpace core"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
