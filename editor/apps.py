from __future__ import annotations

from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "editor"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from editor.signals import give_new_user_a_workspace

        post_save.connect(
            give_new_user_a_workspace,
            sender=get_user_model(),
            dispatch_uid="editor.give_new_user_a_workspace",
        )
