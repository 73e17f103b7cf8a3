from mailer import create_app

app = create_app()
