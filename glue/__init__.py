"""Glue job scripts: each runs on AWS Glue and under plain local PySpark."""
