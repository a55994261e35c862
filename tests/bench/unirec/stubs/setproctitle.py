"""Stand-in for setproctitle (see README.md): UniRec only sets the process title."""


def setproctitle(title):
    return None


def getproctitle():
    return ""
