from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('editor', '0007_workspace_tools'),
    ]

    operations = [
        migrations.AddField(
            model_name='workflow',
            name='mcp_exposed',
            field=models.BooleanField(default=False),
        ),
    ]
