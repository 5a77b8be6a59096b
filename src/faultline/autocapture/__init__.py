"""autocapture"""
