from sumsim.cli import program

program()
