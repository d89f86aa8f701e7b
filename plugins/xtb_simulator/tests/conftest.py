import os

# tblite reads the OpenMP thread count when it is first loaded
os.environ.setdefault('OMP_NUM_THREADS', '1')
