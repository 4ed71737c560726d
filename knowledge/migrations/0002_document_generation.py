from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="document",
            name="generation",
            field=models.PositiveIntegerField(default=1),
        ),
    ]
